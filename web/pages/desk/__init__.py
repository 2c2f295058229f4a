"""The agent desktop page (坐席工作台): ``GET /desk``."""
