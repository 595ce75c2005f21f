//! What a failed restic run means for the user. OWNER: restic-parser agent.
