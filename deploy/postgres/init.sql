-- One database per service (SPEC section 1): no service reads another's tables.
CREATE DATABASE brug_intake;
CREATE DATABASE brug_cases;
CREATE DATABASE brug_handover;
CREATE DATABASE brug_signals;
