"""The Lab 7 autograder: `python -m grader reports/` (see README, "Grading")."""
