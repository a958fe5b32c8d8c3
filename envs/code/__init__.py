"""Code environments (HumanEval, MBPP, interactive Python) and the sandbox that runs their code."""
