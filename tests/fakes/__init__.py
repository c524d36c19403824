"""In-memory fakes of the ports the services take: shared by every test area, holding no assertions."""
