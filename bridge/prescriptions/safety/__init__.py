"""Safety checks of a drafted prescription: each rule reports findings a doctor acts on or overrides."""
