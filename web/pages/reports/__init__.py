"""The supervisors' report pages (报表): units' 三率 and score with the deductions
supervisors enter, hot topics and rising issues, and the call-centre history."""
