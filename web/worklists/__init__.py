"""The platform groups' worklists and their decisions (工作清单): dispatch with the review
of returns (退单审核/改派), quality check (质检), callback (回访), the monitoring pool (监测池)
and supervision (督办)."""
