"""The demonstration behind `make run`: a federation on loopback, queries and analytics.

1. prepares `.gerbang/`: the development PKI, two regional police databases
   (a synthetic Jakarta split between two adapters), the audit log;
2. starts both adapters and the gateway as real processes (logs in `.gerbang/logs/`);
3. asks, over mTLS with each caller's own certificate:
   - the transport agency: incident counts by kecamatan and hour of day (allowed, aggregate);
   - the planning agency: personal fields of persons (denied, with the reasons);
   - police investigators: incident records under a case reference (allowed);
   - the planning agency: a differentially private heatmap of one kota, as a PNG under
     `.gerbang/` and in the terminal;
   - the city command centre: the early-warning stream over a planted surge, to its alert;
   - the police patrol directorate: a patrol plan capped per kecamatan;
   - the same over HTTP: the transport agency's agent asked with curl (JSON, CSV, a denial),
     and the command centre's warning stream as Server-Sent Events;
4. verifies the audit log, prints its size and head hash, and stops everything.

The modules: `workdir` (the PKI and the police databases), `queries` (queries 1 to 3 and the
evidence bundle), `analytics` (4 to 6), `show` (what the terminal shows), `oversight` (the
standard witness, Kompolnas, the offline check) and `__main__` (the order of it all).
"""
