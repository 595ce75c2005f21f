//! Harness for igotchuu's end-to-end tests. OWNER: e2e agent.
