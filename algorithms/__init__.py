"""toolgym.algorithms: learning algorithms (FireAct, ReST-EM, Re-ReST, MCTS, Q-learning over tools...)."""
