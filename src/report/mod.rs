//! The report: the versioned `report.json` contract, its JSON Schema, and its atomic writer.
// NB: being written now; see issue 3.
