/* 统计报表 charts: Chart.js (served from /static/vendor, no CDN) draws the figures the page
 * carries in data attributes. Amounts arrive as integer fen and are shown in 元 on the
 * axes and tooltips; the tables below stay the full record. An external file: no inline
 * script. */
(function () {
  'use strict';

  var box = document.getElementById('report-charts');
  if (!box) {
    return;
  }
  var labels = JSON.parse(box.getAttribute('data-labels') || '{}');
  var status = box.querySelector('.chart-status');
  var boxes = Array.prototype.slice.call(box.querySelectorAll('.chart-box'));

  if (typeof window.Chart !== 'function') {
    status.textContent = labels.unsupported || '';
    status.hidden = false;
    boxes.forEach(function (b) { b.hidden = true; });
    return;
  }
  var data = JSON.parse(box.getAttribute('data-chart') || '{}');

  // Integer fen as "1,234.56" without floating point.
  function yuan(fen) {
    var n = Math.round(Number(fen) || 0);
    var sign = n < 0 ? '-' : '';
    n = Math.abs(n);
    var whole = String(Math.floor(n / 100)).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
    var cents = String(n % 100);
    return sign + whole + '.' + (cents.length < 2 ? '0' + cents : cents);
  }

  var colours = {
    paid: '#2e7d32',
    pending: '#f9a825',
    failed: '#c62828',
    reserved: '#6a1b9a',
    need: '#1565c0',
    helped: '#b71c1c'
  };

  function moneySet(key, stack) {
    return {
      label: labels[key] || key,
      data: data[key] || [],
      backgroundColor: colours[key],
      stack: stack
    };
  }

  // Money only: paid, pending and failed stacked, the need beside them. The budget is
  // drawn apart as a percentage used (below), or it would flatten these bars.
  new window.Chart(document.getElementById('chart-money'), {
    type: 'bar',
    data: {
      labels: data.districts || [],
      datasets: [
        moneySet('paid', 'paid'),
        moneySet('pending', 'paid'),
        moneySet('failed', 'paid'),
        moneySet('need', 'need')
      ]
    },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      scales: {
        x: { stacked: true },
        y: {
          stacked: true,
          beginAtZero: true,
          title: { display: true, text: labels.yuan || '' },
          ticks: { callback: function (value) { return yuan(value); } }
        }
      },
      plugins: {
        tooltip: {
          callbacks: {
            label: function (ctx) {
              return ctx.dataset.label + ': ' + yuan(ctx.parsed.y) + ' ' + (labels.yuan || '');
            }
          }
        }
      }
    }
  });

  var budgetCanvas = document.getElementById('chart-budget');
  var use = data.budget_use || {};
  if (budgetCanvas) {
    var shares = [['paid', 'paid_share'], ['reserved', 'reserved_share'], ['need', 'need_share']];
    new window.Chart(budgetCanvas, {
      type: 'bar',
      data: {
        labels: data.districts || [],
        datasets: shares.map(function (pair) {
          return {
            label: labels[pair[1]] || pair[1],
            data: use[pair[0]] || [],
            backgroundColor: colours[pair[0]]
          };
        })
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        scales: {
          y: {
            beginAtZero: true,
            suggestedMax: 100,
            title: { display: true, text: labels.percent || '%' },
            ticks: { callback: function (value) { return value + '%'; } }
          }
        },
        plugins: {
          tooltip: {
            callbacks: {
              label: function (ctx) {
                return ctx.dataset.label + ': ' + ctx.parsed.y + '%';
              }
            }
          }
        }
      }
    });
  }

  new window.Chart(document.getElementById('chart-helped'), {
    type: 'bar',
    data: {
      labels: data.categories || [],
      datasets: [{
        label: labels.helped || '',
        data: data.helped || [],
        backgroundColor: colours.helped
      }]
    },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      scales: {
        x: { title: { display: true, text: labels.category || data.category_label || '' } },
        y: {
          beginAtZero: true,
          title: { display: true, text: labels.people || '' },
          ticks: { precision: 0 }
        }
      },
      plugins: { legend: { display: false } }
    }
  });
}());
