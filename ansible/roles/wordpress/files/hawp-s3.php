<?php
// Written by ha-wordpress (the wordpress role); changes here are overwritten.
//
// The S3 client of the media offload (hawp-media.php): PUT, HEAD and DELETE
// of one object in the media bucket, in path style (ENDPOINT/BUCKET/KEY,
// which DigitalOcean Spaces and the lab's stand-in both take), signed with
// AWS Signature Version 4 through PHP's curl extension.
//   - The signature covers the body's real SHA-256 (never UNSIGNED-PAYLOAD):
//     a body changed or cut on the way is refused, not stored.
//   - TLS is always verified, against HAWP_MEDIA_CA_FILE when given (the
//     lab's own CA); redirects are not followed.
//   - One PUT per object, no multipart: an object is at most MAX_BYTES,
//     above the role's upload limit (wordpress_upload_max_size).
//   - A failure comes back as text ("PUT <key>: 403 SignatureDoesNotMatch:
//     <S3's message>"), never as an exception: the caller decides what it
//     means for WordPress. The secret is in no message.
// Installed as mu-plugins/hawp-media/s3.php, which hawp-media.php requires;
// it only declares the class.

defined('ABSPATH') || exit;

final class HAWP_S3
{
    public const MAX_BYTES = 100 * 1024 * 1024;
    private const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

    private string $host = '';
    private ?string $invalid = null;

    public function __construct(
        private string $endpoint,
        private string $region,
        private string $bucket,
        private string $accessKey,
        private string $secretKey,
        private ?string $caFile = null,
    ) {
        $this->endpoint = rtrim($endpoint, '/');
        $url = parse_url($this->endpoint);
        // Only scheme://host[:port]: the signed path must be exactly the one sent.
        if (!is_array($url) || !in_array($url['scheme'] ?? '', ['http', 'https'], true) || empty($url['host'])
            || isset($url['path']) || isset($url['query']) || isset($url['user'])) {
            // Not echoed: a user:password@ in it would end up in the log.
            $this->invalid = 'the endpoint (HAWP_MEDIA_ENDPOINT) must be http(s)://host[:port]';
            return;
        }
        $this->host = $url['host'] . (isset($url['port']) ? ':' . $url['port'] : '');
    }

    /** Stores a local file as a public-read object: null when it is stored, else why not. */
    public function put(string $key, string $file, string $type): ?string
    {
        $in = @fopen($file, 'rb');
        if ($in === false) {
            return "PUT $key: cannot read $file";
        }
        try {
            $size = fstat($in)['size'];
            if ($size > self::MAX_BYTES) {
                return "PUT $key: the file is $size bytes, above the " . self::MAX_BYTES . ' this client stores in one PUT';
            }
            // Hashed, then sent from the same open file: a file changed in between fails its signature.
            $sha256 = hash_file('sha256', $file);
            if ($sha256 === false) {
                return "PUT $key: cannot read $file";
            }
            $headers = [
                // Object names never change once uploaded (WordPress makes each name unique).
                'cache-control' => 'public, max-age=31536000',
                'content-type' => $type !== '' ? $type : 'application/octet-stream',
                'x-amz-acl' => 'public-read',
            ];
            $curl = [CURLOPT_UPLOAD => true, CURLOPT_INFILE => $in, CURLOPT_INFILESIZE => $size];
            // A stalled upload is given up after 30 s under 10 KiB/s; the whole one within PHP-FPM's request time.
            $curl += [CURLOPT_LOW_SPEED_LIMIT => 10240, CURLOPT_LOW_SPEED_TIME => 30];
            return $this->request('PUT', $key, $sha256, $headers, $curl, 100)[1];
        } finally {
            fclose($in);
        }
    }

    /** Whether the object exists: true or false, or (a string) why that cannot be told. */
    public function exists(string $key): bool|string
    {
        [$status, $error] = $this->request('HEAD', $key, self::EMPTY_SHA256, [], [CURLOPT_NOBODY => true], 15);
        return $status === 404 ? false : ($error ?? true);
    }

    /** Deletes the object (a missing one too, as S3 does): null when done, else why not. */
    public function delete(string $key): ?string
    {
        return $this->request('DELETE', $key, self::EMPTY_SHA256, [], [CURLOPT_CUSTOMREQUEST => 'DELETE'], 15)[1];
    }

    /** @return array{int, ?string} the HTTP status (0: no answer) and the error, null for a 2xx */
    private function request(string $method, string $key, string $sha256, array $headers, array $curl, int $timeout): array
    {
        if ($this->invalid !== null) {
            return [0, "$method $key: {$this->invalid}"];
        }
        $path = '/' . rawurlencode($this->bucket) . '/' . implode('/', array_map('rawurlencode', explode('/', $key)));
        $now = gmdate('Ymd\THis\Z');
        $day = substr($now, 0, 8);
        $headers += ['host' => $this->host, 'x-amz-content-sha256' => $sha256, 'x-amz-date' => $now];
        // Every header sent is signed, in SigV4's canonical form (sorted, spaces folded).
        $headers = array_map(fn ($v) => preg_replace('/\s+/', ' ', trim($v)), $headers);
        ksort($headers, SORT_STRING);
        $names = implode(';', array_keys($headers));
        $lines = '';
        foreach ($headers as $name => $value) {
            $lines .= "$name:$value\n";
        }
        $scope = "$day/{$this->region}/s3/aws4_request";
        $canonical = "$method\n$path\n\n$lines\n$names\n$sha256";
        $toSign = "AWS4-HMAC-SHA256\n$now\n$scope\n" . hash('sha256', $canonical);
        $signingKey = 'AWS4' . $this->secretKey;
        foreach ([$day, $this->region, 's3', 'aws4_request'] as $part) {
            $signingKey = hash_hmac('sha256', $part, $signingKey, true);
        }
        $send = [
            "Authorization: AWS4-HMAC-SHA256 Credential={$this->accessKey}/$scope, SignedHeaders=$names, Signature="
                . hash_hmac('sha256', $toSign, $signingKey),
            // No "100 Continue" round trip before the body.
            'Expect:',
        ];
        foreach ($headers as $name => $value) {
            $send[] = "$name: $value";
        }

        $ch = curl_init($this->endpoint . $path);
        $options = $curl + [
            CURLOPT_HTTPHEADER => $send,
            CURLOPT_RETURNTRANSFER => true,
            CURLOPT_FOLLOWLOCATION => false,
            CURLOPT_SSL_VERIFYPEER => true,
            CURLOPT_SSL_VERIFYHOST => 2,
            CURLOPT_CONNECTTIMEOUT => 10,
            CURLOPT_TIMEOUT => $timeout,
        ];
        if ($this->caFile !== null && $this->caFile !== '') {
            $options[CURLOPT_CAINFO] = $this->caFile;
        }
        curl_setopt_array($ch, $options);
        $body = curl_exec($ch);
        $status = (int) curl_getinfo($ch, CURLINFO_RESPONSE_CODE);
        $failure = curl_error($ch);
        curl_close($ch);

        if ($body === false) {
            return [0, "$method $key: $failure"];
        }
        if ($status >= 200 && $status < 300) {
            return [$status, null];
        }
        // S3's error document; a HEAD answer has none, so only its status says why.
        $code = preg_match('#<Code>([^<]*)</Code>#', $body, $m) ? " $m[1]" : '';
        $message = preg_match('#<Message>([^<]*)</Message>#', $body, $m) ? ': ' . html_entity_decode($m[1], ENT_QUOTES | ENT_XML1) : '';
        return [$status, "$method $key: $status$code$message"];
    }
}
