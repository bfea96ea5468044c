"""The nursing-home telemedicine bridge: the application (workflows, accounts, access, persistence, routes)."""
