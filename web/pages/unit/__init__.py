"""The unit portal (承办单位工作台): a unit's orders, one order's actions, its liaisons."""
