"""For learners: the labs' set-up, their auto-graders, and the quiz."""
