#!/usr/bin/env bash
# Make sure the services the tests need are there: a PostgreSQL server to create
# databases on, the redis-server program (tests start private instances of it), and
# Chromium for the web client's browser tests (Playwright drives the system's browser).
# The MongoDB pass needs no service here: its tests start a private SecantusDB
# (requirements-dev.txt) on a free port.
set -euo pipefail

if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
  echo "installing chromium"
  apt-get update -qq && apt-get install -y -qq chromium >/dev/null
fi

if ! command -v redis-server >/dev/null 2>&1; then
  echo "installing redis-server"
  apt-get update -qq && apt-get install -y -qq redis-server >/dev/null
fi

# nginx: tests/ops/test_deploy.py runs deploy/nginx/im.conf through `nginx -t`.
if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
  echo "installing nginx"
  apt-get update -qq && apt-get install -y -qq nginx >/dev/null
fi

if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    echo "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start
  else
    echo "installing PostgreSQL"
    apt-get update -qq && apt-get install -y -qq postgresql >/dev/null
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start
  fi
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi
pg_isready -h 127.0.0.1 -p 5432

# RabbitMQ on 127.0.0.1:5672 (guest), the broker of tests/notifications/test_celery.py.
if ! (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; then
  if ! command -v rabbitmq-server >/dev/null 2>&1; then
    echo "installing rabbitmq-server"
    apt-get update -qq && apt-get install -y -qq rabbitmq-server >/dev/null
  fi
  echo "starting RabbitMQ"
  rabbitmq-server -detached
  for _ in $(seq 1 60); do (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null && break; sleep 1; done
fi
(exec 3<>/dev/tcp/127.0.0.1/5672) && echo "RabbitMQ: accepting connections"
