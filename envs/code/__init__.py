"""Code environments (HumanEval, MBPP, interactive Python); their code runs in :mod:`toolgym.sandbox`."""
