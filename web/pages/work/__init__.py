"""The platform groups' worklist pages (工作清单页面): dispatch (派单), quality check (质检),
callback (回访), monitoring pool (监测池), supervision (督办)."""
