"""timesteer: learn to steer a car from its camera, through time.

Areas, one folder each, imports flowing one way:
`data` and `models` know nothing of each other; `train` uses both; `evaluate` and `stream` use the
three; `sim` uses them all; `demo` strings everything together; `cli` is a thin argument parser on top.
"""

__version__ = "0.1.0"
