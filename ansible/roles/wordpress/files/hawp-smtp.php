<?php
/*
 * Plugin Name: ha-wordpress mail
 * Description: WordPress's mail through the SMTP server the cluster was given (--smtp-host).
 *
 * DigitalOcean blocks outbound port 25, so PHP's mail() reaches no one from a
 * droplet: password resets and notifications go through a mail provider's
 * relay instead (docs/cluster.md#mail). Port 465 speaks TLS from the first
 * byte; any other port must offer STARTTLS, or nothing is sent: the login
 * and the mail never cross the network in the clear. The server's
 * certificate is verified (PHP's default CA bundle).
 */

if (!defined('HAWP_SMTP_HOST') || HAWP_SMTP_HOST === '') {
    return;
}

add_action('phpmailer_init', function ($mailer) {
    $mailer->isSMTP();
    $mailer->Host = HAWP_SMTP_HOST;
    $mailer->Port = (int) HAWP_SMTP_PORT;
    $mailer->SMTPSecure = ((int) HAWP_SMTP_PORT === 465) ? 'ssl' : 'tls';
    // A page load waits for the mail: a dead relay must not hold a PHP worker for minutes.
    $mailer->Timeout = 15;
    if (HAWP_SMTP_USER !== '') {
        $mailer->SMTPAuth = true;
        $mailer->Username = HAWP_SMTP_USER;
        $mailer->Password = HAWP_SMTP_PASSWORD;
    }
    if (HAWP_SMTP_FROM !== '') {
        // Relays accept only senders they know; the envelope sender too.
        $mailer->setFrom(HAWP_SMTP_FROM, $mailer->FromName, true);
    }
});
