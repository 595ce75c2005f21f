//! Parsing restic's `--json` lines. OWNER: restic-parser agent.
