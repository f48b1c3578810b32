<?php
// ha-wordpress: WordPress's due cron events, run by a systemd timer on every
// web node once a minute, and by one node at a time (docs/cluster.md#one-cron).
//
//   php wp-cron-run.php <lease seconds>     (as www-data)
//
// WordPress's own wp-cron.php runs the events; this takes a lease first: one
// row of an InnoDB table in the site's database, taken with a single UPDATE
// that only succeeds when the lease has ended or is this node's already.
// Galera does not support GET_LOCK (MariaDB refuses it with wsrep on), but a
// row update is a write like any other: two nodes racing for it are
// serialised by the row lock on the writer, or one loses Galera's
// certification and takes nothing. The lease ends when the run ends; a node
// that dies holding it loses it when it expires. systemd stops a run before
// its lease expires (the unit's TimeoutStartSec), so two runs never overlap.
// Prints one line when it ran the events, nothing when another node holds
// the lease; exit 1 when the database could not be asked.

if (PHP_SAPI !== 'cli') {
    exit(1);
}
$lease = (int) ($argv[1] ?? 0);
if ($lease < 60) {
    fwrite(STDERR, "usage: wp-cron-run.php <lease seconds, at least 60>\n");
    exit(2);
}

// `ha-wordpress restore` (ansible/restore.yml) is rebuilding the database
// while this file exists: no event runs against a half-restored site.
if (file_exists('/etc/ha-wordpress/maintenance')) {
    exit(0);
}

// Debian's wp-config.php picks /etc/wordpress/config-<host>.php by the
// request's host; without one it loads config-default.php, the cluster's.
$_SERVER['HTTP_HOST'] = 'localhost';
$_SERVER['SERVER_NAME'] = 'localhost';
$_SERVER['REQUEST_URI'] = '/wp-cron.php';
$_SERVER['REQUEST_METHOD'] = 'GET';

require '/usr/share/wordpress/wp-load.php';

global $wpdb;
$table = $wpdb->base_prefix . 'hawp_cron_lease';
$node = gethostname();

// Once per cluster: the table and its one row (DDL is a cluster-wide
// barrier in Galera, so not on every run).
if ($wpdb->get_var($wpdb->prepare('SHOW TABLES LIKE %s', $table)) !== $table) {
    $wpdb->query("CREATE TABLE IF NOT EXISTS `$table` (
        name VARCHAR(64) NOT NULL PRIMARY KEY,
        holder VARCHAR(255) NOT NULL,
        until DATETIME(3) NOT NULL,
        ran DATETIME(3) NULL
    ) ENGINE=InnoDB");
    $wpdb->query("INSERT IGNORE INTO `$table` (name, holder, until) VALUES ('wp-cron', '', '1970-01-01 00:00:01')");
}
if ($wpdb->last_error !== '') {
    fwrite(STDERR, "wp-cron-run: the lease table: {$wpdb->last_error}\n");
    exit(1);
}

$took = $wpdb->query($wpdb->prepare(
    "UPDATE `$table` SET holder = %s, until = NOW(3) + INTERVAL %d SECOND, ran = NOW(3)
     WHERE name = 'wp-cron' AND (until < NOW(3) OR holder = %s)",
    $node,
    $lease,
    $node
));
if ($took !== 1) {
    // Another node holds the lease (0 rows), or lost the race to it (an error).
    exit(0);
}

// wp-load.php read the options (the cron schedule and WordPress's own
// doing_cron lock among them) before the lease was ours: a node whose run
// ended a moment ago may have run and unscheduled events since. Read them
// again, or they run twice.
wp_cache_flush();

// Whatever wp-cron.php does (it ends with die()), the lease ends with the run.
register_shutdown_function(function () use ($wpdb, $table, $node) {
    $wpdb->query($wpdb->prepare("UPDATE `$table` SET until = NOW(3) WHERE name = 'wp-cron' AND holder = %s", $node));
});

echo "wp-cron-run: {$node} runs the due events\n";
require ABSPATH . 'wp-cron.php';
