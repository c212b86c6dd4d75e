"""Putting a model to work: `predict`, the stream runtime (`Pipeline`), ROS 2 (the node,
`sensor_msgs` images, bags) and Triton (repositories, a local server)."""
