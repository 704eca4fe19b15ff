"""The Program builder: a trace's records as tasks on units, with dependencies and buffer space,
as the choices given to it say (the offline scheduler, :mod:`satsim.search`, makes them)."""
