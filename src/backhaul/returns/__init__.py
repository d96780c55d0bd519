"""Returns intake: policies, eligibility, reasons, routing, RMA cases, labels and the survey."""
