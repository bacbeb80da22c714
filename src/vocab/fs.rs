//! Writing a file so that readers see the old content or the new, never a torn one.
