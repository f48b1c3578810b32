<?php
// The writer of `ha-wordpress drill`. Sent on stdin to `php` inside one web
// node (nothing is installed there), it writes the way WordPress does: with
// WordPress's own credentials from its config, through the reserved IP and
// HAProxy, a new connection for every write as every WordPress request opens
// one. It reads one row id per line of its input and answers
//   ok <id>            only once the server acknowledged the commit
//                      (autocommit: the INSERT returned, so Galera certified
//                      and replicated it);
//   fail <id> <code>   otherwise (the code is the client's error number; the
//                      message is not sent, so nothing of the connection
//                      settings can leak).
// A "fail" may still have committed (the answer was lost), which is why only
// the "ok" rows are counted as acknowledged and checked afterwards.
// End of input ends it.

error_reporting(E_ALL & ~E_WARNING);
require '/etc/wordpress/config-default.php';

$table = 'ha_wordpress_drill';
$hostPort = explode(':', DB_HOST, 2);
$host = $hostPort[0];
$port = isset($hostPort[1]) ? (int) $hostPort[1] : 3306;
mysqli_report(MYSQLI_REPORT_ERROR | MYSQLI_REPORT_STRICT);

// Over TLS as WordPress connects (wp-content/db.php): the cluster CA, the web
// nodes' client certificate, the server's certificate verified.
function connect($host, $port)
{
    $db = mysqli_init();
    $db->options(MYSQLI_OPT_CONNECT_TIMEOUT, 2);
    $db->options(MYSQLI_OPT_READ_TIMEOUT, 3);
    $flags = 0;
    if (defined('HAWP_DB_TLS_CA')) {
        $db->ssl_set(HAWP_DB_TLS_KEY, HAWP_DB_TLS_CERT, HAWP_DB_TLS_CA, null, null);
        $flags = MYSQLI_CLIENT_SSL | MYSQLI_CLIENT_SSL_VERIFY_SERVER_CERT;
    }
    $db->real_connect($host, DB_USER, DB_PASSWORD, DB_NAME, $port, null, $flags);
    return $db;
}

function answer($line)
{
    fwrite(STDOUT, $line . "\n");
    fflush(STDOUT);
}

// The table, once; a cluster that cannot take it is not ready for a drill.
$ready = false;
for ($try = 0; $try < 10 && !$ready; $try++) {
    try {
        $db = connect($host, $port);
        $db->query("CREATE TABLE IF NOT EXISTS `$table` (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, written_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)) ENGINE=InnoDB");
        $db->query("DELETE FROM `$table`");
        $db->close();
        $ready = true;
    } catch (Throwable $e) {
        sleep(1);
    }
}
if (!$ready) {
    answer('error the database does not take writes through ' . DB_HOST . ' (error ' . $e->getCode() . ')');
    exit(1);
}
answer('ready ' . DB_NAME . '.' . $table);

while (($line = fgets(STDIN)) !== false) {
    $id = (int) trim($line);
    if ($id <= 0) {
        continue;
    }
    try {
        $db = connect($host, $port);
        $insert = $db->prepare("INSERT INTO `$table` (id) VALUES (?)");
        $insert->bind_param('i', $id);
        $insert->execute();
        $db->close();
        answer("ok $id");
    } catch (Throwable $e) {
        answer("fail $id " . $e->getCode());
    }
}
