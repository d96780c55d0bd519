"""Device side: the DeviceAdapter protocol, the simulated adapter, and the station agent."""
