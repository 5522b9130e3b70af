"""Trials and fleets on a Ray cluster: each trial is a Ray task that holds one node
(the ``perfpilot_node`` resource) and runs what ``perfpilot run`` runs there; its run
directories come back to the submitting workspace. ``session``: connecting (or starting a
throwaway local cluster); ``nodes``: finding and checking nodes; ``ship``: artifacts and
run directories; ``trial``: the node side; ``dispatch``: the driver side."""
