DROP TABLE fill_leases;
