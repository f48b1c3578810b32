<?php
// Written by ha-wordpress (the wordpress role); changes here are overwritten.
//
// WordPress's database connection over TLS (docs/cluster.md, "The database
// path is TLS"). WordPress loads wp-content/db.php in place of its own
// database class; it has no setting for a CA or a client certificate (it
// passes only MYSQL_CLIENT_FLAGS to mysqli_real_connect), so this class makes
// the connection itself:
//   - the cluster CA, this node's client certificate and key (mysqli_ssl_set);
//   - MYSQLI_CLIENT_SSL_VERIFY_SERVER_CERT: the server's certificate must chain
//     to that CA and name the host in DB_HOST;
//   - a file that cannot be read, a server without TLS or a certificate that
//     does not verify fails the connection. Nothing falls back to plaintext
//     or to an unverified connection.
// After connecting it does what wpdb::db_connect does after connecting, with
// wpdb's own methods.

defined('ABSPATH') || exit;

class HA_WordPress_TLS_DB extends wpdb
{
    public function db_connect($allow_bail = true)
    {
        // Written by the same role as this file; without it, WordPress's own connection.
        if (!defined('HAWP_DB_TLS_CA')) {
            return parent::db_connect($allow_bail);
        }
        $this->is_mysql = true;
        mysqli_report(MYSQLI_REPORT_OFF);
        $this->dbh = null;

        $files = array(HAWP_DB_TLS_KEY, HAWP_DB_TLS_CERT, HAWP_DB_TLS_CA);
        if (count(array_filter($files, 'is_readable')) === count($files)) {
            $host = $this->dbhost;
            $port = null;
            $socket = null;
            $parsed = $this->parse_db_host($this->dbhost);
            if ($parsed) {
                list($host, $port, $socket) = $parsed;
            }
            $link = mysqli_init();
            mysqli_ssl_set($link, HAWP_DB_TLS_KEY, HAWP_DB_TLS_CERT, HAWP_DB_TLS_CA, null, null);
            $flags = MYSQLI_CLIENT_SSL | MYSQLI_CLIENT_SSL_VERIFY_SERVER_CERT;
            if (@mysqli_real_connect($link, $host, $this->dbuser, $this->dbpassword, null, $port, $socket, $flags)) {
                $this->dbh = $link;
            }
        }

        if (!$this->dbh) {
            if (!$allow_bail) {
                return false;
            }
            wp_load_translations_early();
            if (file_exists(WP_CONTENT_DIR . '/db-error.php')) {
                require_once WP_CONTENT_DIR . '/db-error.php';
                die();
            }
            $this->bail('<h1>' . __('Error establishing a database connection') . '</h1>', 'db_connect_fail');
            return false;
        }

        if (!$this->has_connected) {
            $this->init_charset();
        }
        $this->has_connected = true;
        $this->set_charset($this->dbh);
        $this->ready = true;
        $this->set_sql_mode();
        $this->select($this->dbname, $this->dbh);
        return true;
    }
}

$wpdb = new HA_WordPress_TLS_DB(DB_USER, DB_PASSWORD, DB_NAME, DB_HOST);
