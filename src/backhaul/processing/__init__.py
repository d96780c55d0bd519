"""Processing: the lifecycle table, the steps, certificates, grading and disposition."""
