"""The agent desktop (坐席工作台): the screen pop of a ringing call, the agent's own state
buttons, and the work order made from the call (line, caller and recording linked on the
server), with duplicate warning and knowledge-base answers."""
