<?php
// Written by ha-wordpress (the wordpress role); changes here are overwritten.
//
// Media offload, a must-use plugin (docs/cluster.md, "Uploads on every
// node"): every web node sees only its own disk, so an upload must not live
// only on the disk of the node that took it. Each uploaded file and every
// size WordPress makes of it is stored, public-read, in the media bucket
// (Spaces; the S3 stand-in in the lab), and the site's media URLs point
// there. The local copies stay where WordPress put them (its image editor
// and thumbnail code read them); no URL points at them any more.
//
// Configured only by constants from wp-config: HAWP_MEDIA_ENDPOINT,
// HAWP_MEDIA_REGION, HAWP_MEDIA_BUCKET, HAWP_MEDIA_KEY, HAWP_MEDIA_SECRET and
// HAWP_MEDIA_URL (the public base of the media URLs, no trailing slash);
// optionally HAWP_MEDIA_PREFIX (the keys' prefix, wp-content/uploads by
// default) and HAWP_MEDIA_CA_FILE. Without all the required ones it does
// nothing at all.
//
// An upload that cannot be stored in the bucket fails, and nothing of it is
// kept; a size that cannot be stored is logged (error_log) and the upload
// stands, as WordPress lets a failed thumbnail be.

defined('ABSPATH') || exit;

// The S3 client (the role's hawp-s3.php), installed in a folder of its own:
// WordPress loads every file directly in mu-plugins, none in a subfolder.
require_once __DIR__ . '/hawp-media/s3.php';

function hawp_media_configured(): bool
{
    foreach (['ENDPOINT', 'REGION', 'BUCKET', 'KEY', 'SECRET', 'URL'] as $name) {
        if (!defined("HAWP_MEDIA_$name")) {
            return false;
        }
    }
    return true;
}

function hawp_media_client(): HAWP_S3
{
    static $client = null;
    return $client ??= new HAWP_S3(
        HAWP_MEDIA_ENDPOINT,
        HAWP_MEDIA_REGION,
        HAWP_MEDIA_BUCKET,
        HAWP_MEDIA_KEY,
        HAWP_MEDIA_SECRET,
        defined('HAWP_MEDIA_CA_FILE') ? HAWP_MEDIA_CA_FILE : null,
    );
}

function hawp_media_prefix(): string
{
    return trim(defined('HAWP_MEDIA_PREFIX') ? HAWP_MEDIA_PREFIX : 'wp-content/uploads', '/');
}

/** The bucket key of a path relative to the uploads directory. */
function hawp_media_key(string $relative): string
{
    return ltrim(hawp_media_prefix() . '/' . ltrim($relative, '/'), '/');
}

/**
 * $url moved from under $baseurl (the local uploads URL) to the same path
 * under $media_url and $prefix; any other URL unchanged. The scheme is not
 * compared: WordPress gives the uploads URL as http or https per request.
 */
function hawp_media_rewrite(string $url, string $baseurl, string $media_url, string $prefix): string
{
    $strip = fn (string $u): string => preg_replace('#^[a-z][a-z0-9+.-]*:#i', '', $u);
    $base = rtrim($strip($baseurl), '/') . '/';
    $rest = $strip($url);
    if (!str_starts_with($rest, $base)) {
        return $url;
    }
    return rtrim($media_url, '/') . '/' . ltrim(trim($prefix, '/') . '/' . substr($rest, strlen($base)), '/');
}

/**
 * The files of an attachment, relative to the uploads directory, each with
 * the MIME type its metadata gives ('' when it gives none): the attached
 * file, its sizes, the original WordPress scaled down (original_image), and
 * $backups, the files the image editor kept from before an edit. All are
 * in the attached file's folder.
 */
function hawp_media_attachment_files($meta, string $attached, $backups = []): array
{
    $meta = is_array($meta) ? $meta : [];
    $main = is_string($meta['file'] ?? null) && $meta['file'] !== '' ? $meta['file'] : $attached;
    if ($main === '') {
        return [];
    }
    $dir = dirname($main) === '.' ? '' : dirname($main) . '/';
    $files = [$main => ''];
    if ($attached !== '') {
        $files[$attached] = '';
    }
    foreach ([$meta['sizes'] ?? [], $backups] as $list) {
        foreach (is_array($list) ? $list : [] as $size) {
            if (is_array($size) && is_string($size['file'] ?? null) && $size['file'] !== '') {
                $files[$dir . basename($size['file'])] ??= (string) ($size['mime-type'] ?? '');
            }
        }
    }
    if (is_string($meta['original_image'] ?? null) && $meta['original_image'] !== '') {
        $files[$dir . basename($meta['original_image'])] ??= '';
    }
    return $files;
}

/** Stores one file of the uploads directory; null when stored, else why not (also logged). */
function hawp_media_put(string $relative, string $type = ''): ?string
{
    // Within one request a file is stored once, however many hooks name it.
    static $stored = [];
    $key = hawp_media_key($relative);
    if (isset($stored[$key])) {
        return null;
    }
    $file = wp_get_upload_dir()['basedir'] . '/' . $relative;
    if ($type === '') {
        $type = wp_check_filetype($file)['type'] ?: 'application/octet-stream';
    }
    $error = hawp_media_client()->put($key, $file, $type);
    if ($error !== null) {
        error_log("hawp-media: $error");
        return $error;
    }
    $stored[$key] = true;
    return null;
}

/** A path under the uploads directory, relative to it; null for a file elsewhere. */
function hawp_media_relative(string $file): ?string
{
    $base = rtrim(wp_get_upload_dir()['basedir'], '/') . '/';
    return str_starts_with($file, $base) ? substr($file, strlen($base)) : null;
}

// wp_handle_upload (uploads and sideloads): the file is in the bucket
// before WordPress records the attachment, or the upload fails whole.
function hawp_media_handle_upload($upload)
{
    if (!is_array($upload) || !empty($upload['error']) || !is_string($upload['file'] ?? null)) {
        return $upload;
    }
    $relative = hawp_media_relative($upload['file']);
    if ($relative === null || hawp_media_put($relative, (string) ($upload['type'] ?? '')) === null) {
        return $upload;
    }
    @unlink($upload['file']);
    return ['error' => 'The file could not be stored in the media storage, so it was not uploaded. Please try again; the PHP error log says why.'];
}

// wp_generate_attachment_metadata, and wp_update_attachment_metadata (the
// image editor's new files, sizes made again): every file the metadata
// names that is on this node's disk. Files on another node's disk were
// stored by the node that made them.
function hawp_media_offload_metadata($meta, $attachment_id = 0)
{
    if (!is_array($meta)) {
        return $meta;
    }
    $base = wp_get_upload_dir()['basedir'];
    $attached = (string) get_post_meta($attachment_id, '_wp_attached_file', true);
    foreach (hawp_media_attachment_files($meta, $attached) as $relative => $type) {
        if (is_file("$base/$relative")) {
            hawp_media_put($relative, $type);
        }
    }
    return $meta;
}

// wp_unique_filename: WordPress makes a name unique on this node's disk
// only; another node may have stored the same name in the bucket. The
// name gets -1, -2... as WordPress numbers it, until the bucket has no
// such key (two nodes choosing one name in the same instant can still
// meet: the later upload replaces the earlier).
function hawp_media_unique_filename($filename, $ext = '', $dir = '', $callback = null, $alternates = [], $number = '')
{
    $base = rtrim(wp_get_upload_dir()['basedir'], '/');
    if (!is_string($filename) || !is_string($dir) || ($dir !== $base && !str_starts_with($dir, "$base/"))) {
        return $filename;
    }
    $folder = trim(substr($dir, strlen($base)), '/');
    $ext = (string) $ext;
    $name = $ext !== '' && str_ends_with($filename, $ext) ? substr($filename, 0, -strlen($ext)) : $filename;
    $n = 0;
    // Already numbered by WordPress (photo-1.jpg): count on from there, not photo-1-1.jpg.
    if ((string) $number !== '' && str_ends_with($name, "-$number")) {
        $name = substr($name, 0, -strlen("-$number"));
        $n = (int) $number;
    }
    $candidate = $filename;
    for (;;) {
        $taken = hawp_media_client()->exists(hawp_media_key(ltrim("$folder/$candidate", '/')));
        if ($taken === false) {
            return $candidate;
        }
        if ($taken !== true) {
            // The bucket cannot say: keep the name; the upload itself will tell whether the bucket works.
            error_log("hawp-media: $taken");
            return $candidate;
        }
        do {
            $candidate = $name . '-' . ++$n . $ext;
        } while (file_exists("$dir/$candidate"));
    }
}

function hawp_media_url($url)
{
    return is_string($url) ? hawp_media_rewrite($url, wp_get_upload_dir()['baseurl'], HAWP_MEDIA_URL, hawp_media_prefix()) : $url;
}

function hawp_media_srcset($sources)
{
    if (is_array($sources)) {
        foreach ($sources as &$source) {
            if (is_array($source) && isset($source['url'])) {
                $source['url'] = hawp_media_url($source['url']);
            }
        }
        unset($source);
    }
    return $sources;
}

// delete_attachment (before WordPress removes the metadata and the local
// files): the same files out of the bucket. A failure is logged; the
// attachment is deleted anyway, as WordPress does when a local file will
// not go.
function hawp_media_delete_attachment($attachment_id)
{
    $files = hawp_media_attachment_files(
        wp_get_attachment_metadata($attachment_id, true),
        (string) get_post_meta($attachment_id, '_wp_attached_file', true),
        get_post_meta($attachment_id, '_wp_attachment_backup_sizes', true),
    );
    foreach (array_keys($files) as $relative) {
        $error = hawp_media_client()->delete(hawp_media_key($relative));
        if ($error !== null) {
            error_log("hawp-media: $error");
        }
    }
}

if (hawp_media_configured()) {
    add_filter('wp_handle_upload', 'hawp_media_handle_upload');
    add_filter('wp_generate_attachment_metadata', 'hawp_media_offload_metadata', 10, 2);
    add_filter('wp_update_attachment_metadata', 'hawp_media_offload_metadata', 10, 2);
    add_filter('wp_unique_filename', 'hawp_media_unique_filename', 10, 6);
    add_filter('wp_get_attachment_url', 'hawp_media_url');
    add_filter('wp_calculate_image_srcset', 'hawp_media_srcset');
    add_action('delete_attachment', 'hawp_media_delete_attachment');
}
