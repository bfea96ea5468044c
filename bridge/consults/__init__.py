"""Video consults: the state machine, its records, the doctor queue and the Encounter it keeps."""
