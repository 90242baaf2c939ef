// The lab page script (placeholder until the page issue).
