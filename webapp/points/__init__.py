"""Points: rules, the double-entry ledger, the points store, households, honour rolls and the special fund."""
