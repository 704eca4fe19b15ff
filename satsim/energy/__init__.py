"""Energy: the simulator counts actions, a table prices them (Accelergy's split).

* :mod:`satsim.energy.table`: the validated energy table (``configs/energy/*.yaml``);
* :mod:`satsim.energy.price`: a run's action counts and time priced with a table;
* :mod:`satsim.energy.breakdown`: the priced energy, per unit, phase, layer and op.
"""

from satsim.energy.breakdown import EnergyBreakdown, ExactJoules
from satsim.energy.price import price_run
from satsim.energy.table import EnergyTable, load_energy_table

__all__ = ["EnergyBreakdown", "EnergyTable", "ExactJoules", "load_energy_table", "price_run"]
