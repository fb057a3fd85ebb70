"""Wrong versions of the functions the lab asks students to write, as students write them: test data for
``python -m ddpm_lab.check`` (tests/test_check.py). Each module holds the mistakes of one function: ``TARGET`` is
the function they stand in for, ``TASK`` its task; every public function of the module is one mistake, its
docstring saying what is wrong and where the mistake comes from (the lab's text, or a common slip)."""
