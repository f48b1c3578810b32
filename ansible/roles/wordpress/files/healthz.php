<?php
// The load balancers' health check (nginx's /healthz, PHP-FPM's
// [ha-wordpress-health] pool): answering at all proves nginx and PHP-FPM
// run. It reads nothing else: a database outage must not take every web
// node out of the load balancer at once.
header('Content-Type: text/plain');
header('Cache-Control: no-store');
echo "ok\n";
