"""The foundation every other package stands on: errors, atomic file writes, the option words
(`vocab`), the precision table, `Resolution`, file naming, stored-field schemas, `ModelMeta` (what
every artifact carries) and the graph-vs-metadata check, progress and latency statistics, and what
this machine has. Pure Python and numpy; nothing heavy is imported."""
