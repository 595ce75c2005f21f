//! Bounded line reading from restic's pipes. OWNER: restic-parser agent.
