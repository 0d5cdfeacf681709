"""lamppost-ops: the operations service that turns alarms from posts into work orders at contractors."""
