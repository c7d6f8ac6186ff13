#!/bin/sh
# Start pprof-fcgi with spawn-fcgi: spawn-fcgi creates the unix socket
# (mode 0660, group of the web server) and hands it over as fd 0, so the
# app runs without --listen. One process only: ptrace allows one tracer.
exec spawn-fcgi -n \
	-s /run/pprof-fcgi/pprof-fcgi.sock -M 0660 -U www-data -G www-data \
	-u pprof-fcgi -g pprof-fcgi \
	-- /usr/local/bin/pprof-fcgi --config /etc/pprof-fcgi/pprof-fcgi.conf
