"""The portal: pages for nurses, doctors, pharmacists, supervisors and admins, rendered from bridge services."""
