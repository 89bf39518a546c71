/* The process editor page: the bpmn-js Modeler with the Camunda 7 properties panel (the
 * bundle in /static/vendor/editor/ gives window.WarmflowModeler), loaded with the draft or
 * the newest version; buttons to save a draft, validate and deploy. Findings are marked on
 * the diagram (red outline and a badge with the message) and listed beside it; clicking
 * an item selects its element. Calls carry the CSRF token in the X-CSRFToken header.
 * An external file: no inline script. Page text comes translated from #editor-messages.
 * Tests and scripts reach the modeler through window.warmflowEditor. */
(function () {
  'use strict';

  var box = document.getElementById('process-editor');
  if (!box) {
    return;
  }
  var texts = document.getElementById('editor-messages').dataset;
  var status = box.querySelector('.editor-status');
  var findingsBox = box.querySelector('.editor-findings');
  var findingsList = box.querySelector('.findings-list');
  var commentInput = box.querySelector('input[name=comment]');
  var buttons = Array.prototype.slice.call(box.querySelectorAll('[data-action]'));
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrfToken = csrfMeta ? csrfMeta.getAttribute('content') : '';

  function text(key, values) {
    var message = texts[key] || key;
    Object.keys(values || {}).forEach(function (name) {
      message = message.split('{' + name + '}').join(String(values[name]));
    });
    return message;
  }

  function say(message, kind) {
    status.textContent = message;
    status.className = 'editor-status' + (kind ? ' ' + kind : '');
  }

  if (!window.WarmflowModeler || typeof window.fetch !== 'function' || !window.Promise) {
    say(text('unsupported'), 'error');
    return;
  }

  // The panel and the palette speak the page's language (the bundle's translate module).
  var modeler = window.WarmflowModeler.create(
    box.querySelector('.editor-canvas'),
    box.querySelector('.editor-panel'),
    [],
    { locale: document.documentElement.lang }
  );
  var lockVersion = null;
  var dirty = false;
  var busy = false;
  var marked = [];

  modeler.get('eventBus').on('commandStack.changed', function () {
    dirty = true;
  });
  window.addEventListener('beforeunload', function (event) {
    if (dirty) {
      event.preventDefault();
      event.returnValue = '';
    }
  });

  // --- findings on the diagram ---------------------------------------------------------

  function clearFindings() {
    var canvas = modeler.get('canvas');
    var overlays = modeler.get('overlays');
    marked.forEach(function (id) {
      canvas.removeMarker(id, 'wf-finding');
    });
    marked = [];
    overlays.remove({ type: 'wf-finding' });
    findingsList.textContent = '';
    findingsBox.hidden = true;
  }

  function elementFor(id) {
    return id ? modeler.get('elementRegistry').get(id) : null;
  }

  function select(element) {
    var canvas = modeler.get('canvas');
    modeler.get('selection').select(element);
    if (element !== canvas.getRootElement() && !element.labelTarget) {
      canvas.scrollToElement(element);
    }
  }

  function badge(messages) {
    var tip = document.createElement('div');
    tip.className = 'wf-finding-badge';
    tip.setAttribute('title', messages.join('\n'));
    var mark = document.createElement('span');
    mark.className = 'wf-finding-mark';
    mark.textContent = messages.length > 1 ? '!' + messages.length : '!';
    var body = document.createElement('div');
    body.className = 'wf-finding-text';
    messages.forEach(function (message) {
      var line = document.createElement('p');
      line.textContent = message;
      body.appendChild(line);
    });
    tip.appendChild(mark);
    tip.appendChild(body);
    return tip;
  }

  function showFindings(findings) {
    clearFindings();
    if (!findings || !findings.length) {
      return;
    }
    var canvas = modeler.get('canvas');
    var root = canvas.getRootElement();
    var byElement = {};
    findings.forEach(function (finding) {
      var element = elementFor(finding.element);
      var item = document.createElement('li');
      var where = document.createElement(element ? 'button' : 'span');
      where.className = 'finding-where';
      if (element) {
        where.type = 'button';
        where.dataset.element = element.id;
        where.addEventListener('click', function () {
          select(element);
        });
        var bo = element.businessObject || {};
        where.textContent = (bo.name || element.id) + (bo.name ? '（' + element.id + '）' : '');
      } else {
        where.textContent = finding.element ? finding.element : text('wholeFile');
      }
      var what = document.createElement('span');
      what.className = 'finding-message';
      what.textContent = finding.message;
      item.appendChild(where);
      item.appendChild(what);
      item.dataset.element = finding.element || '';
      findingsList.appendChild(item);
      if (element && element !== root) {
        (byElement[element.id] = byElement[element.id] || []).push(finding.message);
      }
    });
    var overlays = modeler.get('overlays');
    Object.keys(byElement).forEach(function (id) {
      canvas.addMarker(id, 'wf-finding');
      marked.push(id);
      overlays.add(id, 'wf-finding', {
        position: { top: -10, right: 10 },
        html: badge(byElement[id])
      });
    });
    findingsBox.hidden = false;
  }

  // --- talking to the server -----------------------------------------------------------

  function call(url, body) {
    return window.fetch(url, {
      method: body ? 'POST' : 'GET',
      credentials: 'same-origin',
      headers: body ? {
        Accept: 'application/json',
        'Content-Type': 'application/json',
        'X-CSRFToken': csrfToken
      } : { Accept: 'application/json' },
      body: body ? JSON.stringify(body) : undefined
    }).then(function (answer) {
      var type = answer.headers.get('Content-Type') || '';
      if (type.indexOf('application/json') === -1) {
        var error = new Error(answer.status === 400 ? text('expired') : String(answer.status));
        error.status = answer.status;
        throw error;
      }
      return answer.json().then(function (data) {
        return { status: answer.status, ok: answer.ok, data: data };
      });
    });
  }

  function failed(error) {
    say(text('failed', { message: error && error.message ? error.message : '' }), 'error');
  }

  function currentXML() {
    return modeler.saveXML({ format: true }).then(function (result) {
      return result.xml;
    });
  }

  function importXML(xml) {
    clearFindings();
    return modeler.importXML(xml).then(function (result) {
      modeler.get('canvas').zoom('fit-viewport', 'auto');
      dirty = false;
      return result;
    });
  }

  function withBusy(work) {
    if (busy) {
      return Promise.resolve();
    }
    busy = true;
    buttons.forEach(function (button) {
      button.disabled = true;
    });
    return work().catch(failed).then(function () {
      busy = false;
      buttons.forEach(function (button) {
        button.disabled = false;
      });
    });
  }

  function saveDraft() {
    say(text('saving'));
    return currentXML().then(function (xml) {
      return call(box.dataset.draftUrl, { xml: xml, lock_version: lockVersion });
    }).then(function (answer) {
      if (!answer.ok) {
        if (answer.data.findings && answer.status === 422) {
          showFindings(answer.data.findings);
        }
        say(answer.data.message, 'error');
        return;
      }
      lockVersion = answer.data.lock_version;
      dirty = false;
      say(text('saved'), 'ok');
    });
  }

  function validate() {
    say(text('validating'));
    return currentXML().then(function (xml) {
      return call(box.dataset.validateUrl, { xml: xml });
    }).then(function (answer) {
      if (!answer.ok) {
        say(answer.data.message, 'error');
        return;
      }
      showFindings(answer.data.findings);
      if (answer.data.findings.length) {
        say(text('invalid', { count: answer.data.findings.length }), 'error');
      } else {
        say(text('valid'), 'ok');
      }
    });
  }

  function deploy() {
    if (!window.confirm(text('confirmDeploy'))) {
      return Promise.resolve();
    }
    say(text('deploying'));
    return currentXML().then(function (xml) {
      return call(box.dataset.deployUrl, { xml: xml, comment: commentInput.value });
    }).then(function (answer) {
      if (answer.status === 422 && answer.data.findings) {
        showFindings(answer.data.findings);
        say(text('refused', { count: answer.data.findings.length }), 'error');
        return;
      }
      if (!answer.ok) {
        say(answer.data.message, 'error');
        return;
      }
      clearFindings();
      dirty = false;
      lockVersion = 0; // the draft is done with
      commentInput.value = '';
      say(
        answer.data.created ? text('deployed', { number: answer.data.number }) : text('unchanged'),
        'ok'
      );
    });
  }

  var actions = { save: saveDraft, validate: validate, deploy: deploy };
  buttons.forEach(function (button) {
    button.disabled = true;
    button.addEventListener('click', function () {
      withBusy(actions[button.dataset.action]);
    });
  });

  window.warmflowEditor = {
    modeler: modeler,
    importXML: importXML,
    saveXML: currentXML,
    showFindings: showFindings
  };

  call(box.dataset.sourceUrl).then(function (answer) {
    if (!answer.ok) {
      throw new Error(answer.data.message);
    }
    lockVersion = answer.data.lock_version;
    return importXML(answer.data.xml).then(function () {
      say(text(answer.data.from === 'draft' ? 'loadedDraft' : 'loadedVersion', {
        number: answer.data.number
      }));
      buttons.forEach(function (button) {
        button.disabled = false;
      });
      box.dataset.ready = 'true';
    });
  }).catch(function () {
    say(text('loadFailed'), 'error');
  });
}());
