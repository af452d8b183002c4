"""Benchmark scripts (see bench/README.md); not part of the installed package.

One comparison each, printing ratios and rewriting their section of docs/performance.md:
``p1_pooled_vs_naive``, ``p2_overhead``, ``p3_routing`` (its variants and results in ``p3_results``, its section in
``p3_report``), ``p4_sweep``, ``p5_latency`` (``p5_results``, ``p5_report``), ``c1_clients``, ``d1_rates_transfer``,
``d2_bridge_call``, ``s1_streams`` (live ticks to 1,000 browsers, the feed's capacity; its section in ``s1_report``),
``t1_order_send`` (orders through ``mt5.order_send``, the service's cost per order), and
``bench_manager`` (the manager alone, in process). What they share: ``harness`` (a fleet
with a publishing client, traffic, rates), ``report`` (tables, charts, ratio lines of docs/performance.md) and
``tasks`` (bench-only tasks loaded into a production worker).

``capacity`` writes docs/capacity.md instead: the fleet's own costs measured (``capacity_fleet``: routing, moves;
``capacity_members``: heartbeats, load reports, sessions, a request's Redis cost, Flower's events;
``capacity_broadcast``: the broadcast sweep's fan-out), the discrete-event model (``capacity_model``) checked
against P3 and P5 (``capacity_validation``), run on P5's regimes with every routing (``capacity_routing``) and used
for sizing (``capacity_sizing``), and the page's sections (``capacity_report``).
"""
