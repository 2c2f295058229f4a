"""Work orders over HTTP (工单接口): intake, dispatch (派单), unit work, callback, review,
supervision and the dispatch data imports."""
