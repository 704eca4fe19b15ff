"""Energy: the simulator counts actions, a table prices them (Accelergy's split).

* :mod:`satsim.energy.table`: the validated energy table (``configs/energy/*.yaml``);
* :mod:`satsim.energy.price`: a run's action counts and time priced with a table.
"""

from satsim.energy.price import EnergyBreakdown, ExactJoules, price_run
from satsim.energy.table import EnergyTable, load_energy_table

__all__ = ["EnergyBreakdown", "EnergyTable", "ExactJoules", "load_energy_table", "price_run"]
