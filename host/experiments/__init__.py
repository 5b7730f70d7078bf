"""Benchmarks and experiments: each measures one figure of the project and prints it (and, where
a curve says more than a table, draws it into docs/figures). ``semcom bench``, ``semcom ber``
and ``semcom eval`` run them; ``make figures`` redraws the figures."""
